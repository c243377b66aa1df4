"""linksim: simulate wireless links whose physical layer is semantic.

A scenario YAML declares images, a channel, transmission schemes and a sweep grid;
:func:`linksim.sweep.run_sweep` runs it and writes tidy tables and plots.
"""

__version__ = "0.1.0"
