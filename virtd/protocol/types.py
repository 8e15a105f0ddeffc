"""
XDR building blocks shared by libvirt's programs: strings, UUIDs, object
handles and typed parameters (wire facts section 3).
"""

from virtd import xdr

REMOTE_STRING_MAX = 4194304
VIR_UUID_BUFLEN = 16
VIR_TYPED_PARAM_FIELD_LENGTH = 80

#: C{remote_nonnull_string}
NonnullString = xdr.String(REMOTE_STRING_MAX)
#: C{remote_string}: an optional string
OptString = xdr.Optional(NonnullString)
#: C{remote_uuid}
UUID = xdr.FixedOpaque(VIR_UUID_BUFLEN)

Dom = xdr.Struct("remote_nonnull_domain", [
    ("name", NonnullString), ("uuid", UUID), ("id", xdr.Int)])
Net = xdr.Struct("remote_nonnull_network", [
    ("name", NonnullString), ("uuid", UUID)])
NetPort = xdr.Struct("remote_nonnull_network_port", [
    ("net", Net), ("uuid", UUID)])
NWFilter = xdr.Struct("remote_nonnull_nwfilter", [
    ("name", NonnullString), ("uuid", UUID)])
NWFBinding = xdr.Struct("remote_nonnull_nwfilter_binding", [
    ("portdev", NonnullString), ("filtername", NonnullString)])
Iface = xdr.Struct("remote_nonnull_interface", [
    ("name", NonnullString), ("mac", NonnullString)])
Pool = xdr.Struct("remote_nonnull_storage_pool", [
    ("name", NonnullString), ("uuid", UUID)])
Vol = xdr.Struct("remote_nonnull_storage_vol", [
    ("pool", NonnullString), ("name", NonnullString), ("key", NonnullString)])
NodeDev = xdr.Struct("remote_nonnull_node_device", [("name", NonnullString)])
Secret = xdr.Struct("remote_nonnull_secret", [
    ("uuid", UUID), ("usageType", xdr.Int), ("usageID", NonnullString)])
Snap = xdr.Struct("remote_nonnull_domain_snapshot", [
    ("name", NonnullString), ("dom", Dom)])
Checkpoint = xdr.Struct("remote_nonnull_domain_checkpoint", [
    ("name", NonnullString), ("dom", Dom)])

# virTypedParameterType
VIR_TYPED_PARAM_INT = 1
VIR_TYPED_PARAM_UINT = 2
VIR_TYPED_PARAM_LLONG = 3
VIR_TYPED_PARAM_ULLONG = 4
VIR_TYPED_PARAM_DOUBLE = 5
VIR_TYPED_PARAM_BOOLEAN = 6
VIR_TYPED_PARAM_STRING = 7

TypedParamValue = xdr.Union("remote_typed_param_value", xdr.Int, {
    VIR_TYPED_PARAM_INT: ("i", xdr.Int),
    VIR_TYPED_PARAM_UINT: ("ui", xdr.UInt),
    VIR_TYPED_PARAM_LLONG: ("l", xdr.Hyper),
    VIR_TYPED_PARAM_ULLONG: ("ul", xdr.UHyper),
    VIR_TYPED_PARAM_DOUBLE: ("d", xdr.Double),
    VIR_TYPED_PARAM_BOOLEAN: ("b", xdr.Int),
    VIR_TYPED_PARAM_STRING: ("s", NonnullString),
})
#: C{remote_typed_param}: C{field} and a C{(type, value)} pair.
TypedParam = xdr.Struct("remote_typed_param", [
    ("field", NonnullString), ("value", TypedParamValue)])


def TypedParams(maximum: int) -> xdr.Array:
    """
    C{remote_typed_param<maximum>}.
    """
    return xdr.Array(TypedParam, maximum)
