"""``python -m securecompute`` runs the command-line interface."""

from securecompute.cli import run

if __name__ == "__main__":
    run()
