"""Raw inputs (expression tables, Hi-C maps, gene coordinates) -> interaction CSVs.

Modules, one job each: :mod:`textio` (delimited text, any line ending), :mod:`config`,
:mod:`expression`, :mod:`annotation`, :mod:`hic`, :mod:`features`, :mod:`placement`,
:mod:`assemble`, :mod:`cache`, :mod:`compare`, :mod:`pipeline` (the two modes), :mod:`cli`;
the genome-scale converter is the subpackage :mod:`raw_data_conversion.genome`.
"""
