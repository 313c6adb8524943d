"""The command line: `main` (in `main.py`) and one module per command group (`stages`, `registry`,
`release`, `loop`), each handler a few lines that call the module owning the decision."""

from .main import main

__all__ = ["main"]
