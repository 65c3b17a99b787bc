"""Files and processes every layer above shares: one module per file format and per utility.

  input_files   opening files people hand us (plain or .gz), errors that name file and line
  jsonl         JSON Lines: reading (plain or .gz) and writing
  atomic        writing a file so that readers see the old content or the new, never half
  hashing       sha256 of a file
  git           running git, with errors that say what failed where
  cpus          how many CPUs this process may use
  ranks         which process this is under torchrun: rank, world size, local rank
  predictions   predictions.jsonl, the file every model hands on
  fusion_json   models/fusion/fusion.json, the fitted fusion's summary
  run_info      run_info.json and timing.json beside a trained model
  errors        FileFormatError, a file that breaks its format

Imports nothing of streamguard but `errors`.
"""
