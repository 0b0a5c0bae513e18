"""Search: the query and result types (query) and their msgpack form (wire), the SearchIndex and search()
(engine), stacked RKME points (stat_group), kernel sums (kernels, rff), scores, mixture selection and text
filters."""
