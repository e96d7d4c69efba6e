-- Faster imports (issue: foundation). FTS5 keeps the terms of the rows written in a
-- transaction in memory and writes them out as a new segment each time they pass
-- 'hashsize' (1 MB by default): about eight segments for a page of 5,000 papers, each
-- merged again later. With 8 MB a page makes one, and its FTS5 rows take about a fifth
-- less time (docs/benchmarks.md, "Import"); the writer holds about 10 MB more.
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 8388608);
