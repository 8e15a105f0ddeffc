"""
The virsh scenarios of issue 3, as data a comparison harness can import:
each runs as one virsh session (commands separated by C{;}, because the
test driver's state lives only while a connection is open) against a real
libvirtd and against virtd, and the outputs must match once L{NORMALISERS}
have blanked what changes by itself.

C{{dir}} in a command is replaced by a directory holding the files of
L{FILES} (see L{writeFiles}).
"""

from __future__ import annotations

import os

#: name -> content of the definition files the scenarios use.
FILES = {
    "dom.xml": """<domain type='test'>
  <name>vm1</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='KiB'>524288</memory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/tmp/vm1.img'/>
      <target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>
""",
    "net.xml": """<network>
  <name>net1</name>
  <uuid>11111111-2222-3333-4444-666666666666</uuid>
  <bridge name='virbr9'/>
  <ip address='192.168.150.1' netmask='255.255.255.0'/>
</network>
""",
    "pool.xml": """<pool type='dir'>
  <name>pool1</name>
  <uuid>11111111-2222-3333-4444-777777777777</uuid>
  <target><path>/tmp/pool1</path></target>
</pool>
""",
}

#: (title, virsh commands, read-only?) -- read-only scenarios also run with
#: C{-r} on the read-only socket, where they must give the same output;
#: write scenarios there must fail with the same error.
SCENARIOS: list[tuple[str, str, bool]] = [
    ("host", "hostname; version; uri; nodeinfo; maxvcpus", True),
    ("capabilities", "capabilities; sysinfo", True),
    ("list", "list --all", True),
    ("dominfo", "dominfo test; domstate test; domid test; domname 1; "
                "domuuid test", True),
    ("dumpxml", "dumpxml test", True),
    ("vcpus", "vcpucount test; vcpuinfo test", True),
    ("schedinfo", "schedinfo test", True),
    ("domain devices", "dommemstat test; domblklist test; domiflist test; "
                       "domhostname test", True),
    ("define", "define {dir}/dom.xml; list --all; dominfo vm1; "
               "undefine vm1; list --all", False),
    ("start destroy", "define {dir}/dom.xml; start vm1; domstate vm1; "
                      "destroy vm1; domstate vm1; undefine vm1", False),
    ("lifecycle", "shutdown test; domstate test; start test; reboot test; "
                  "suspend test; domstate test; resume test; "
                  "domstate test", False),
    ("autostart", "autostart test; dominfo test; autostart --disable test; "
                  "dominfo test", False),
    ("memory", "setmem test 1048576; setmaxmem test 4194304 --config; "
               "dominfo test", False),
    ("setvcpus", "setvcpus test 1 --live; vcpucount test", False),
    ("snapshots", "snapshot-create-as test snap1 --description first; "
                  "snapshot-list test --name; snapshot-dumpxml test snap1; "
                  "snapshot-delete test snap1; snapshot-list test --name",
     False),
    ("networks", "net-list --all; net-info default; net-dumpxml default",
     True),
    ("network lifecycle", "net-define {dir}/net.xml; net-start net1; "
                          "net-autostart net1; net-list --all; "
                          "net-destroy net1; net-undefine net1; "
                          "net-list --all", False),
    ("pools", "pool-list --all; pool-info default-pool; "
              "pool-dumpxml default-pool", True),
    ("pool lifecycle", "pool-define {dir}/pool.xml; pool-start pool1; "
                       "pool-refresh pool1; pool-list --all; "
                       "pool-destroy pool1; pool-undefine pool1; "
                       "pool-list --all", False),
    ("volumes", "vol-list default-pool; vol-create-as default-pool "
                "vol1.img 10M; vol-list default-pool; "
                "vol-info vol1.img --pool default-pool; "
                "vol-dumpxml vol1.img --pool default-pool; "
                "vol-path vol1.img --pool default-pool; "
                "vol-delete vol1.img --pool default-pool", False),
    ("interfaces", "iface-list; iface-dumpxml eth1", True),
    ("not found", "dominfo nosuch; net-info nosuch; pool-info nosuch; "
                  "vol-info nosuch --pool default-pool; "
                  "iface-dumpxml nosuch; snapshot-dumpxml test nosuch",
     True),
    ("refused by the test driver", "nodedev-list; secret-list; "
                                   "nwfilter-list", True),
]

#: (regex, replacement) pairs applied to both outputs before comparing:
#: CPU time and snapshot creation times come from the clock; C{uri} prints
#: each daemon's own socket path.
NORMALISERS: list[tuple[str, str]] = [
    (r"socket=\S+", "socket=<path>"),
    (r"(CPU time:\s+)\S+", r"\1<cpu-time>"),
    (r"<creationTime>\d+</creationTime>", "<creationTime/>"),
    (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", "<date>"),
]


def writeFiles(directory: str) -> None:
    """
    Write L{FILES} into C{directory}.
    """
    for name, text in FILES.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


def command(text: str, directory: str) -> str:
    """
    A scenario's command line with C{{dir}} filled in.
    """
    return text.replace("{dir}", directory)
