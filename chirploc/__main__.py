"""``python -m chirploc`` (and ``torchrun -m chirploc``): the chirploc command."""

from chirploc.cli import main

if __name__ == "__main__":
    main(prog_name="chirploc")
