"""
Secret and network-filter procedures. The test driver refuses them; the
refusal travels back unchanged, as from libvirtd.
"""

from __future__ import annotations

from virtd.server.handlers import convert
from virtd.server.handlers.registry import VOID, call, limited, listAll, wrap

REMOTE_SECRET_LIST_MAX = 16384
REMOTE_NWFILTER_LIST_MAX = 16384

SECRET = wrap(convert.makeSecret)
NWFILTER = wrap(convert.makeNWFilter)
BINDING = wrap(convert.makeNWFBinding)

# -- secrets ---------------------------------------------------------------------------

call("CONNECT_LIST_ALL_SECRETS", "listAllSecrets", args=("flags",),
     ret=listAll(convert.makeSecret))
call("CONNECT_NUM_OF_SECRETS", "numOfSecrets")
call("CONNECT_LIST_SECRETS", "listSecrets",
     ret=limited("maxuuids", REMOTE_SECRET_LIST_MAX, "REMOTE_SECRET_LIST_MAX"))
call("SECRET_LOOKUP_BY_UUID", "secretLookupByUUID", args=("uuid",),
     ret=SECRET)
call("SECRET_LOOKUP_BY_USAGE", "secretLookupByUsage",
     args=("usageType", "usageID"), ret=SECRET)
call("SECRET_DEFINE_XML", "secretDefineXML", args=("xml", "flags"),
     ret=SECRET)
call("SECRET_GET_XML_DESC", "XMLDesc", on="secret", args=("flags",))
call("SECRET_SET_VALUE", "setValue", on="secret", args=("value", "flags"),
     ret=VOID)
call("SECRET_GET_VALUE", "value", on="secret", args=("flags",))
call("SECRET_UNDEFINE", "undefine", on="secret", ret=VOID)

# -- network filters ----------------------------------------------------------------------

call("CONNECT_LIST_ALL_NWFILTERS", "listAllNWFilters", args=("flags",),
     ret=listAll(convert.makeNWFilter))
call("CONNECT_NUM_OF_NWFILTERS", "numOfNWFilters")
call("CONNECT_LIST_NWFILTERS", "listNWFilters",
     ret=limited("maxnames", REMOTE_NWFILTER_LIST_MAX,
                 "REMOTE_NWFILTER_LIST_MAX"))
call("NWFILTER_LOOKUP_BY_NAME", "nwfilterLookupByName", args=("name",),
     ret=NWFILTER)
call("NWFILTER_LOOKUP_BY_UUID", "nwfilterLookupByUUID", args=("uuid",),
     ret=NWFILTER)
call("NWFILTER_DEFINE_XML", "nwfilterDefineXML", args=("xml",),
     ret=NWFILTER)
call("NWFILTER_DEFINE_XML_FLAGS", "nwfilterDefineXMLFlags",
     args=("xml", "flags"), ret=NWFILTER)
call("NWFILTER_GET_XML_DESC", "XMLDesc", on="nwfilter", args=("flags",))
call("NWFILTER_UNDEFINE", "undefine", on="nwfilter", ret=VOID)

call("CONNECT_LIST_ALL_NWFILTER_BINDINGS", "listAllNWFilterBindings",
     args=("flags",), ret=listAll(convert.makeNWFBinding))
call("NWFILTER_BINDING_LOOKUP_BY_PORT_DEV", "nwfilterBindingLookupByPortDev",
     args=("name",), ret=BINDING)
call("NWFILTER_BINDING_CREATE_XML", "nwfilterBindingCreateXML",
     args=("xml", "flags"), ret=BINDING)
call("NWFILTER_BINDING_GET_XML_DESC", "XMLDesc", on="binding",
     args=("flags",))
call("NWFILTER_BINDING_DELETE", "delete", on="binding", ret=VOID)
