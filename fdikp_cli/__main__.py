"""`python -m fdikp_cli ...` (what `torchrun -m fdikp_cli` runs)."""

from fdikp_cli.cli.app import main

if __name__ == "__main__":
    main()
