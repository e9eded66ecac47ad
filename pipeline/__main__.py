import sys

try:
    from .cli import main
except KeyboardInterrupt:   # Ctrl-C while the command line's modules load: one line, not their traceback
    print("interrupted by SIGINT: nothing was changed", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
