-- services_page: the Services page of the console: one row per service over the whole window, worst first.
-- Input: service_metrics. Output: service, environment, requests, availability, fault and error rates (percent) and p99
-- latency (ms), sorted by fault rate, then requests (descending), then name.
SELECT service, environment, requests, availability, fault_rate, error_rate, latency_p99_ms
FROM service_metrics
WHERE bucket_start IS NULL
ORDER BY fault_rate DESC, requests DESC, service, environment
