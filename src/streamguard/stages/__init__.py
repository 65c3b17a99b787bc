"""One module per DVC stage of dvc.yaml: its command's entry point and orchestration.

Each module's `main(args)` takes the parsed `streamguard <command>` arguments
(cli.py parses them; every path the stage reads or writes is one of them) and
runs the stage on top of the library packages (data, graphs, models, training,
evaluation):

  check_params       validate_params    every key of params.yaml, then a marker
  download           download           data.source -> data/raw
  collect            collect@<source>   one Phase 2 source -> data/collected/<source>.*
  preprocess         preprocess         clean, deduplicate, trim, split -> data/processed
  folds              folds              the OOF fold of every training record -> data/folds.json
  graphs             graphs             one code graph per function -> data/graphs
  pretrain           pretrain           masked-LM pretraining -> models/pretrain
  train              train_<model>      one base model on the training split -> models/<model>
  oof                oof_<model>        per fold k: fit on the other folds, predict k -> data/oof/<model>
  fusion             fusion             the stacker over the base models -> models/fusion
  evaluate           evaluate           test metrics, CIs, paired tests, plots -> metrics/
  generalize_corpus  generalize_corpus  the leave-project-out corpus -> data/generalize
  generalize         generalize         leave-one-project-out evaluation -> metrics/generalization*
  detector           detector           the model generalize ranks best, on every project -> models/detector
"""
