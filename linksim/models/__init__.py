"""Neural networks used by the schemes (no I/O, no training loops)."""
