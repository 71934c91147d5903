"""Entry point: ``python3 agent.pyz --dir AGENT_DIR --machine NAME``.

The head's URL and token are read from ``AGENT_DIR/head.json`` (mode 0600),
never from argv, and re-read whenever the head stops answering, so a resumed
manager on another port can re-attach to a running agent.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "extract":
        from trial_agent.tools import main as tools_main
        return tools_main(argv)
    if argv and argv[0] in ("read", "ls"):
        from trial_agent.files import main as files_main
        return files_main(argv)
    if argv and argv[0] == "slurm-worker":
        from trial_agent.slurm_worker import main as worker_main
        return worker_main(argv[1:])
    if argv and argv[0] in ("alive", "cleanup"):
        from trial_agent.cleanup import main as cleanup_main
        return cleanup_main(argv)
    parser = argparse.ArgumentParser(prog="trial_agent")
    parser.add_argument("--dir", required=True, help="agent directory (holds head.json, spool, logs)")
    parser.add_argument("--machine", required=True, help="machine name assigned by the manager")
    parser.add_argument("--tick", type=float, default=0.01, help="seconds between trial checks")
    args = parser.parse_args(argv)
    from trial_agent.agent import Agent

    agent = Agent(args.dir, args.machine, tick=args.tick)
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
