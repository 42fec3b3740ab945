"""``python -m raw_data_conversion.genome``: see :mod:`raw_data_conversion.genome.cli`."""
import sys

from raw_data_conversion.genome.cli import main

sys.exit(main())
