"""`python -m faasml.runtime.pinned_exec CPUS [NICE] -- COMMAND...`: exec COMMAND pinned
to CPUS, at nice value NICE (the function's CPU request as a scheduling weight).

Affinity and niceness are set before exec, so every thread the function later starts (ONNX Runtime's
pools) inherits it. PR_SET_PDEATHSIG makes the replica die with the runtime, even when
the runtime is killed with SIGKILL, so no orphan keeps a port or a core.
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    separator = argv.index("--") if "--" in argv else -1
    if separator not in (1, 2) or len(argv) <= separator + 1:
        sys.exit("usage: python -m faasml.runtime.pinned_exec CPUS|all [NICE] -- COMMAND...")
    cpus, command = argv[0], argv[separator + 1:]
    parent = os.getppid()
    if cpus != "all":
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    if separator == 2 and int(argv[1]) > 0:
        os.nice(int(argv[1]))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: replicas just outlive a killed runtime
        pass
    if os.getppid() != parent:  # the runtime died before prctl took effect
        sys.exit(1)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
