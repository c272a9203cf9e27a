#!/usr/bin/env python3
"""Build the book: a thin shim over press.cli (see `python build.py --help`)."""
import sys

from press.cli import main

sys.exit(main())
