#!/usr/bin/env python3
"""The S3 client's command line for the bash callers of the toolkit: see dbtier/s3.py (THE S3 client; this
file only keeps the old path `lib/s3stream.py put|get|head|cat|ls|put-file|rm ...` working)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

from dbtier import s3  # noqa: E402

if __name__ == "__main__":
    s3.main(sys.argv)
