"""Genome-scale conversion: expression matrix (or AnnData) + sample sheet + gene annotation + Hi-C
contacts (.cool / .mcool / .hic) -> a STEP dataset folder; ``python -m raw_data_conversion.genome``
(:mod:`raw_data_conversion.genome.cli` documents the inputs and the output folder).

Modules, one job each: :mod:`~raw_data_conversion.genome.cli` (the command line and ``run``),
:mod:`~raw_data_conversion.genome.config` (settings), :mod:`~raw_data_conversion.genome.readers`
(matrix, AnnData, sample sheet, annotation), :mod:`~raw_data_conversion.genome.contacts` (contact
files), :mod:`~raw_data_conversion.genome.hic` (sparse Hi-C features, partner search),
:mod:`~raw_data_conversion.genome.convert` (the conversion), :mod:`~raw_data_conversion.genome.write`
(folder, interaction CSV) and :mod:`~raw_data_conversion.genome.common` (helpers they share).
The converter's public API is re-exported here.
"""
from raw_data_conversion.genome.cli import main, parse_args, run
from raw_data_conversion.genome.config import FORMAT, VERSION, GenomeConfig, load_genome_config
from raw_data_conversion.genome.contacts import canonical_chrom, open_contacts
from raw_data_conversion.genome.convert import Dataset, convert
from raw_data_conversion.genome.hic import top_partners_sparse
from raw_data_conversion.genome.readers import (read_expression, read_gene_positions, read_h5ad, read_matrix,
                                                sample_times)
from raw_data_conversion.genome.write import write_dataset, write_interaction_csv

__all__ = ["main", "parse_args", "run", "FORMAT", "VERSION", "GenomeConfig", "load_genome_config", "canonical_chrom",
           "open_contacts", "Dataset", "convert", "top_partners_sparse", "read_expression", "read_gene_positions",
           "read_h5ad", "read_matrix", "sample_times", "write_dataset", "write_interaction_csv"]
