"""Which instruction each evaluation input gets.

Follows the LLM2Vec evaluation (arXiv 2404.05961, appendix table of instructions,
taken from E5-Mistral): a per-dataset instruction when the dataset is known, a
per-task-type default otherwise. Instructions are passed to the encoder as
(instruction, text) pairs, so their tokens are attended to but never pooled.
Retrieval documents get no instruction (as in the paper).
"""
from __future__ import annotations

import re
from pathlib import Path

TASK_TYPES = ("sts", "retrieval", "classification", "clustering")

TYPE_DEFAULTS = {
    "sts": "Retrieve semantically similar text:",
    "retrieval": "Given a query, retrieve relevant documents that answer the query:",
    "classification": "Classify the given text into its category:",
    "clustering": "Identify the topic or theme of the given texts:",
}

# MTEB task name -> instruction (LLM2Vec's test_configs/mteb/task_to_instructions.json + paper table).
DATASET_INSTRUCTIONS = {
    # STS: the paper uses one instruction for every STS task
    **{name: "Retrieve semantically similar text:" for name in (
        "STS12", "STS13", "STS14", "STS15", "STS16", "STS17", "STS22", "STSBenchmark", "SICK-R", "BIOSSES")},
    "SciFact": "Given a scientific claim, retrieve documents that support or refute the claim:",
    "NFCorpus": "Given a question, retrieve relevant documents that best answer the question:",
    "ArguAna": "Given a claim, find documents that refute the claim:",
    "FiQA2018": "Given a financial question, retrieve user replies that best answer the question:",
    "SCIDOCS": "Given a scientific paper title, retrieve paper abstracts that are cited by the given paper:",
    "TRECCOVID": "Given a query on COVID-19, retrieve documents that answer the query:",
    "Touche2020": "Given a question, retrieve detailed and persuasive arguments that answer the question:",
    "QuoraRetrieval": "Given a question, retrieve questions that are semantically equivalent to the given question:",
    "MSMARCO": "Given a web search query, retrieve relevant passages that answer the query:",
    "NQ": "Given a question, retrieve Wikipedia passages that answer the question:",
    "HotpotQA": "Given a multi-hop question, retrieve documents that can help answer the question:",
    "FEVER": "Given a claim, retrieve documents that support or refute the claim:",
    "ClimateFEVER": "Given a claim about climate change, retrieve documents that support or refute the claim:",
    "DBPedia": "Given a query, retrieve relevant entity descriptions from DBPedia:",
    "Banking77Classification": "Given a online banking query, find the corresponding intents:",
    "EmotionClassification": "Classify the emotion expressed in the given Twitter message into one of the six "
                             "emotions: anger, fear, joy, love, sadness, and surprise:",
    "ImdbClassification": "Classify the sentiment expressed in the given movie review text from the IMDB dataset:",
    "TweetSentimentExtractionClassification": "Classify the sentiment of a given tweet as either positive, "
                                              "negative, or neutral:",
    "TwentyNewsgroupsClustering": "Identify the topic or theme of the given news articles:",
    "RedditClustering": "Identify the topic or theme of Reddit posts based on the titles:",
    "StackExchangeClustering": "Identify the topic or theme of StackExchange posts based on the titles:",
    "MedrxivClusteringS2S": "Identify the main category of Medrxiv papers based on the titles:",
    "BiorxivClusteringS2S": "Identify the main category of Biorxiv papers based on the titles:",
}

# local folder/file names (normalised) -> MTEB task name, per task type
LOCAL_NAMES = {
    ("sts", "stsbenchmark"): "STSBenchmark", ("sts", "stsb"): "STSBenchmark", ("sts", "sick"): "SICK-R",
    ("retrieval", "scifact"): "SciFact", ("retrieval", "nfcorpus"): "NFCorpus", ("retrieval", "arguana"): "ArguAna",
    ("retrieval", "fiqa"): "FiQA2018", ("retrieval", "scidocs"): "SCIDOCS", ("retrieval", "treccovid"): "TRECCOVID",
    ("retrieval", "webistouche2020"): "Touche2020", ("retrieval", "quora"): "QuoraRetrieval",
    ("retrieval", "msmarco"): "MSMARCO", ("retrieval", "nq"): "NQ", ("retrieval", "hotpotqa"): "HotpotQA",
    ("retrieval", "fever"): "FEVER", ("retrieval", "climatefever"): "ClimateFEVER",
    ("retrieval", "dbpediaentity"): "DBPedia",
    ("classification", "banking77"): "Banking77Classification",
    ("classification", "emotion"): "EmotionClassification", ("classification", "imdb"): "ImdbClassification",
}


def with_colon(instruction: str) -> str:
    """LLM2Vec ends every instruction with ':' (as mteb's llm2vec wrapper does)."""
    instruction = instruction.strip()
    if instruction and not instruction.endswith(":"):
        instruction = instruction.rstrip(".") + ":"
    return instruction


def known_dataset(task_type: str, path: str | Path) -> str | None:
    """The MTEB task a local path stands for, judged by its folder and file names."""
    path = Path(path)
    for part in (path.name, path.stem, path.parent.name):
        key = re.sub(r"[^a-z0-9]", "", part.lower())
        if (task_type, key) in LOCAL_NAMES:
            return LOCAL_NAMES[(task_type, key)]
    return None


def resolve(task_type: str, path: str | Path, overrides: dict[str, str] | None = None) -> tuple[str, str]:
    """(instruction, where it came from) for a task: override > known dataset > task-type default."""
    overrides = overrides or {}
    if task_type in overrides:
        return overrides[task_type].strip(), "override"
    dataset = known_dataset(task_type, path)
    if dataset and dataset in DATASET_INSTRUCTIONS:
        return DATASET_INSTRUCTIONS[dataset], f"dataset:{dataset}"
    return TYPE_DEFAULTS[task_type], "task-type default"
