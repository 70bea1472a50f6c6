"""filegate: turns a selection of files and folders into one prepared download."""

__version__ = "0.1.0"
