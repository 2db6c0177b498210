#!/usr/bin/env python3
"""The reference client: follows ARM's LRO contract; the harness must find nothing wrong with it."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import armclient
armclient.main()
