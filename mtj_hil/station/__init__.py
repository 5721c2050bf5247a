"""A bench described by a station file: the file itself, connecting its instruments, the InstrumentChip built on them, and the station check."""
