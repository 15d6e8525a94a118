-- Issue 13 (scale): the digest of each host's last applied report, so that an unchanged
-- report is answered without writing anything (NULL: unknown, the next report is applied).
ALTER TABLE hosts ADD COLUMN report_digest BLOB;
