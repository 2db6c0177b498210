#!/usr/bin/env python3
"""A deliberately broken client: gives-up-on-404 (see armclient.py for where the bug sits)."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import armclient
armclient.main(bug="gives-up-on-404")
