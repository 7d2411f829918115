"""What a search produced, read back from NNI's own records: the experiment and its trials
(:mod:`nni_nas.results.records`), terminal tables (:mod:`nni_nas.results.tables`), and the report with its
plots and Pareto front (:mod:`nni_nas.results.report`)."""
