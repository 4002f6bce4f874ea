"""Studies: one sample, its exchange/storage/anneal history, its SIMS data and reference data.

* :mod:`.schema` - the study file (TOML) as validated pydantic models
* :mod:`.load` - reading and validating a study file (errors name the key and file)
* :mod:`.runner` - running every analysis the data allow, writing results and the report
* :mod:`.provenance` - input checksums, versions, parameters
* :mod:`.paper_chain` - the paper's calculation chain from its printed inputs
* :mod:`.synthetic` - the bundled synthetic LLTO study of the demo
"""

from tracerdiff.study.load import load_study

__all__ = ["load_study"]
