"""Examples shown under every command's `--help`, in one place so each command's own module
stays argument parsing only. A test checks that every command has some."""
from __future__ import annotations

import argparse

EXAMPLES: dict[str, str] = {
    "": """\
  faasml up -f stack.yml                      # the platform on http://127.0.0.1:8080
  faasml invoke image-classification samples/cat.jpg --tradeoff 0.8
  faasml status --watch 2
  faasml COMMAND --help                       # examples for each command""",
    "models": """\
  faasml models build && faasml models list""",
    "models build": """\
  faasml models build                         # every reference variant, offline; no-op when built
  faasml models build --only efficientnet-lite0-int8 --force""",
    "models list": """\
  faasml models list
  faasml models list --json | python -m json.tool""",
    "models eval": """\
  faasml models eval --data ~/imagenet-sample --limit 200
  faasml models eval --data ~/imagenet-sample --half evaluation --only efficientnet-lite0-int8 --record""",
    "models add": """\
  faasml models add mynet.onnx --name mynet --task image-classification --labels labels.txt --data ~/photos
  faasml models add encoder.onnx --name enc --task sentence-embedding --tokenizer tokenizer.json \\
      --accuracy 0.68 --accuracy-source "our STS benchmark"
  faasml models add anything.onnx --name anything --task tensor   # Open Inference Protocol""",
    "models remove": """\
  faasml models remove mynet                  # its functions out of stack.yml, its files out of models/""",
    "models calibrate": """\
  faasml models calibrate --data ../shared/data/imagenet-sample   # the committed int8 ranges""",
    "models ladder": """\
  faasml models ladder --data ../shared/data/imagenet-sample --only efficientnet-lite0 --plot /tmp/ladder.png""",
    "predict": """\
  faasml predict models/efficientnet-lite0-int8.card.json samples/cat.jpg --top-k 3
  echo 'A man plays a guitar.' > s.txt && faasml predict models/minilm-l6-fp32.card.json s.txt""",
    "up": """\
  faasml up -f stack.yml                      # what `make run` starts
  faasml up -f stack.yml --port 8094 --filter selector --filter efficientnet-lite0-int8
  faasml up --empty --containers podman       # a clean provider; faas-cli deploy --image ... any image
  then open http://127.0.0.1:8080/ui/ (user admin, the password in .faasml/basic-auth-password)""",
    "conformance": """\
  faasml conformance                          # stand-ins, faasml up --empty --containers podman, certifier.test
  faasml conformance --run 'Test_Invoke|Test_SecretCRUD' --dir /tmp/conformance   # keep the logs""",
    "profile": """\
  FAASML_GATEWAY_PASSWORD=$(cat .faasml/basic-auth-password) faasml profile --gateway http://127.0.0.1:8080
  faasml profile --task image-classification --requests 20 --step 1""",
    "invoke": """\
  faasml invoke image-classification samples/cat.jpg            # tradeoff 0.5
  faasml invoke image-classification samples/cat.jpg --tradeoff 0 --max-latency-ms 50
  faasml invoke image-classification samples/cat.jpg --min-accuracy 0.8 --explain
  faasml invoke sentence-embedding samples/sentence.txt
  echo 'A cat sleeps.' | faasml invoke sentence-embedding - --content-type text/plain
  faasml invoke '' samples/cat.jpg --variant efficientnet-lite2-fp32   # pinned
exit status: 0 answered, 1 refused (the error's status, code and details on stderr), 2 bad input""",
    "status": """\
  faasml status                               # http://127.0.0.1:8080; password: FAASML_GATEWAY_PASSWORD, else .faasml/
  faasml status --gateway http://10.0.0.5:31112 --password-file ~/.faasml-cluster-password
  faasml status --watch 2                     # redraw every 2 s, with requests/s""",
    "bench": """\
  faasml bench selector && faasml bench evaluate --quick""",
    "bench int8": """\
  faasml bench int8 --iterations 200""",
    "bench executor": """\
  faasml bench executor --only efficientnet-lite0-int8 --json executor.json
  faasml bench executor --session-options --threads 1   # ONNX Runtime options vs the default
  faasml bench executor --resize-backend pillow opencv   # both image pipelines side by side""",
    "bench batching": """\
  faasml bench batching                       # lite0-int8 and minilm-l6-int8, one CPU
  faasml bench batching --only minilm-l6-fp32 --max-batch 4 --wait-ms 2""",
    "bench gateway": """\
  faasml bench gateway --requests 1000 --duration 3""",
    "bench selector": """\
  faasml bench selector --rounds 3 --json selector.json""",
    "bench evaluate": """\
  faasml bench evaluate --quick               # what `make evaluate` runs
  faasml bench evaluate --quick --capacity 120 --repeats 5   # fixed rates, 5 paired rounds per cell""",
    "bench bound": """\
  faasml bench bound                          # solve times at 1e5 and 1e6 requests, 100 nodes
  faasml bench bound --requests 1e4 --nodes 20 --no-tightness""",
    "bench throughput": """\
  faasml bench throughput --seconds 5 --rounds 2""",
    "bench simulate": """\
  faasml bench simulate --scenario mix --policies tradeoff,random --loads 0.5,1,1.5
  faasml bench simulate --scenario herding --selectors 1,4,16 --max-requests 0 --no-bound
  faasml bench simulate --scenario cluster --policies tradeoff --loads 1 --capacity 5000 \\
      --duration 200 --max-requests 0 --no-records --no-bound     # a million requests
  faasml bench simulate --validate            # against faasml bench evaluate, same traces (~15 min)""",
    "bench correctness": """\
  faasml bench correctness                    # every image model on ../shared/data/imagenet-sample
  faasml bench correctness --only efficientnet-lite0-int8""",
    "bench memory": """\
  faasml bench memory                         # each replica's peak RSS through faasml up
  faasml bench memory --concurrency 16 --requests 200 --json memory.json""",
    "images": """\
  faasml images build                         # what `make images` runs""",
    "images build": """\
  faasml images build                         # every CPU function image, stock faas-cli on podman
  faasml images build --filter selector --filter efficientnet-lite0-int8""",
    "bench images": """\
  faasml bench images --runs 3 --json images.json   # size and container start -> ready per image""",
    "bench coldstart": """\
  faasml bench coldstart --rounds 3 --json coldstart.json   # each CPU variant from zero replicas""",
    "bench serving": """\
  faasml bench serving --rounds 5 --requests 100   # the function server vs the one it replaced (git)""",
}


def subcommands(parser: argparse.ArgumentParser, prefix: str = ""):
    """(command path, parser) for every subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                yield path, sub
                yield from subcommands(sub, path)


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each command's examples in its epilog, laid out as written."""
    for path, sub in [("", parser), *subcommands(parser)]:
        if path in EXAMPLES:
            sub.epilog = "examples:\n" + EXAMPLES[path]
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
