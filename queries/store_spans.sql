-- store_spans: the spans of a span store in the date partitions that can hold records of the window.
-- Input: store_partitions (a store written by ingest, partitioned by date = UTC day of start_time); $1/$2 the first
-- and last partition (YYYY-MM-DD) to read: from the day before the window starts (spans that start earlier but end
-- inside it, and their parents) to the day the window ends. Output: every span column and date.
SELECT * FROM store_partitions WHERE "date" >= $1 AND "date" <= $2
