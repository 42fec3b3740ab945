"""``python -m raw_data_conversion``: see :mod:`raw_data_conversion.cli`."""
import sys

from raw_data_conversion.cli import main

sys.exit(main())
