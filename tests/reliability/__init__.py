"""Reliability harnesses: crash injection (SIGKILL) and multi-process concurrency soak."""
