"""Whole-system tests: the CLI and real processes, faults across apps, the API fuzzer.

They sit outside the layered apps because they exercise every layer at once; a test that needs only some
apps lives in the lowest of them.
"""
