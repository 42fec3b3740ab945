"""What a job leaves behind: the run folder (written atomically), its plots, the biological
analysis and enrichment, the reports and summaries, and reading a run folder back."""
