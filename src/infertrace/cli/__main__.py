"""``python -m infertrace.cli``: the ``infertrace`` command without the console script."""

from infertrace.cli import main

if __name__ == "__main__":
    main()
