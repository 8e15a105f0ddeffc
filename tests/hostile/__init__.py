"""
The hostile suite: the daemon driven through raw sockets with malformed,
abusive and unlucky input, and checked after every case (alive, serving a
second client within a second, file descriptors back to where they were,
memory bounded, nothing unhandled in the log).

Run it alone with C{.venv/bin/trial tests.hostile}; C{VIRTD_FUZZ_FRAMES=N}
makes the mutation fuzzer send N frames instead of its bounded default.
"""
