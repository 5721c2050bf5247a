"""Writing files so that a kill, a power cut or a full disk never leaves half of one: atomic
replacement with fsync, and error texts that name the cause."""
