"""The reliability probe matrix (issue 11): each adversarial probe, the test that replays it, and its result.

    python bench/robustness.py            # runs every probe's tests (every test the PROBES table names)
    python bench/robustness.py --list     # the matrix without running it

Every probe is a real scenario against real components (SQLite files, FAISS indexes, SIGKILLed
processes, chmod, ENOSPC, crafted databases and model directories); the tests are in `tests/` and run
in the default suite too. This script only runs them together and prints one row per probe.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBES: list[tuple[str, str, list[str]]] = [
    ("1", "IVF/HNSW after delete + edit return what Flat returns (20 queries, with and without a filter)",
     ["tests/test_index_vectors.py::test_trained_approximate_index_after_delete_and_edit_equals_flat",
      "tests/test_index_vectors.py::test_ivf_stores_its_own_ids_and_removal_keeps_labels"]),
    ("1", "`l2v status` reports an index that returns the wrong chunks",
     ["tests/test_index_vectors.py::test_consistency_check_reports_an_index_that_mislabels_vectors"]),
    ("2", "IVF/HNSW with a filter or --ef-search/--nprobe: matching search parameters, no TypeError",
     ["tests/test_index_vectors.py::test_search_parameters_match_the_index_type"]),
    ("3", "a narrow filter on an approximate index returns k hits (exact over the allowed ids)",
     ["tests/test_index_vectors.py::test_a_narrow_filter_is_exact_on_a_big_approximate_index"]),
    ("4", "a file name that is not UTF-8 is skipped as bad_name; the run goes on",
     ["tests/test_index_robustness.py::test_a_file_name_that_is_not_utf8_is_skipped_as_bad_name_and_the_run_goes_on",
      "tests/test_index_robustness.py::test_an_unexpected_error_on_one_file_is_recorded_and_the_run_goes_on"]),
    ("5", "long whitespace runs chunk in linear time; chunks unchanged on real documents",
     ["tests/test_index_robustness.py::test_a_megabyte_of_whitespace_chunks_in_seconds",
      "tests/test_index_robustness.py::test_boundary_scores_equal_the_original_on_real_documents_and_whitespace"]),
    ("6", "a huge one-line file stays under the stated memory bound",
     ["tests/test_index_robustness.py::test_peak_memory_of_a_one_line_file_stays_under_the_bound",
      "tests/test_index_robustness.py::test_huge_texts_are_tokenized_segment_by_segment_and_still_covered"]),
    ("7", "skips are retried when their cause may have changed (limit, chmod, older records)",
     ["tests/test_index_robustness.py::test_a_file_skipped_as_too_large_is_retried_under_a_larger_limit",
      "tests/test_index_robustness.py::test_a_file_skipped_as_unreadable_is_retried_after_chmod",
      "tests/test_index_robustness.py::test_skips_recorded_before_retry_keys_are_retried_once"]),
    ("8", "a read-only database (file or folder) opens read-only and searches",
     ["tests/test_index_repair.py::test_a_read_only_database_opens_read_only_and_searches"]),
    ("9", "a missing/corrupt/mislabelling FAISS file is rebuilt from the stored chunks; --rebuild keeps encoders",
     ["tests/test_index_repair.py::test_a_damaged_faiss_file_is_reported_then_rebuilt_from_the_stored_chunks",
      "tests/test_index_repair.py::test_rebuild_without_encoder_keeps_the_recorded_encoder_and_factory"]),
    ("10", "disk full (FAISS write, SQLite) is one line, the run is failed, previous state intact, no temp file",
     ["tests/test_index_repair.py::test_disk_full_is_one_line_marks_the_run_failed_and_keeps_the_previous_state"]),
    ("11", "model directories with custom code are refused before transformers runs anything",
     ["tests/test_model_trust.py"]),
    ("12", "a crafted database cannot make the UI read files outside the user's root",
     ["tests/test_ui_app.py::test_a_crafted_database_cannot_make_the_ui_read_outside_the_users_root",
      "tests/test_ui_app.py::test_missing_changed_and_special_files_read_the_same"]),
    ("13", "pad id beyond the vocabulary, offline unknown encoder, blank query, stray bytes, --log-every 0, "
           "float16 GradScaler, re-saved encoder fingerprint, killed run status, glob classes, one-snapshot search",
     ["tests/test_small_reliability.py", "tests/test_inputs_pooling.py::test_a_pad_id_beyond_the_vocabulary_never_reaches_the_embedding",
      "tests/test_encoder_io.py::test_rewritten_adapters_keep_the_fingerprint_changed_values_do_not",
      "tests/test_index_robustness.py::test_mostly_utf8_text_with_one_bad_byte_is_decoded_as_utf8_not_cp1252",
      "tests/test_index_repair.py::test_a_killed_run_shows_as_interrupted",
      "tests/test_index_repair.py::test_path_globs_with_character_classes",
      "tests/test_index_vectors.py::test_search_reads_the_generation_and_chunk_rows_in_one_snapshot"]),
    ("crash", "SIGKILL at every commit step resumes to the state of a clean build",
     ["tests/test_index_crash.py"]),
    ("20.3", "a mistyped encoder name fails in one line, naming the closest bundled one, with no hub connection",
     ["tests/test_encoder_names.py::test_a_mistyped_name_fails_in_one_line_with_no_hub_call_in_every_command"]),
    ("20.5", "SIGINT mid-embedding: one line, exit 130, every embedded chunk kept, run interrupted, rerun resumes; "
             "a search on a database still being built says so",
     ["tests/test_index_interrupt.py::test_ctrl_c_mid_embedding_keeps_what_was_embedded_says_so_once_and_a_rerun_resumes",
      "tests/test_index_interrupt.py::test_search_while_the_first_build_runs_or_after_it_stopped_without_vectors_says_so"]),
    ("21.5", "l2v serve bounds every costly parameter with a 400 naming the limit (ef_search, nprobe, k, passages, "
             "embedding inputs and their size, /documents pages); idle connections time out, concurrent ones are capped",
     ["tests/test_serve_hardening.py::test_search_parameters_are_bounded_and_the_limit_is_named",
      "tests/test_serve_hardening.py::test_embedding_inputs_are_bounded_in_count_and_size",
      "tests/test_serve_hardening.py::test_document_pages_are_validated",
      "tests/test_serve_hardening.py::test_an_idle_connection_is_closed_after_the_timeout",
      "tests/test_serve_hardening.py::test_concurrent_connections_are_capped_and_the_next_one_gets_503"]),
    ("21.6", "l2v serve refuses a foreign Host header (403, DNS rebinding) and POST bodies not declared JSON (415)",
     ["tests/test_serve_hardening.py::test_a_foreign_host_header_is_refused",
      "tests/test_serve_hardening.py::test_the_servers_own_addresses_are_accepted",
      "tests/test_serve_hardening.py::test_host_rules_for_other_bindings",
      "tests/test_serve_hardening.py::test_post_bodies_must_be_declared_json"]),
    ("21.9", "l2v serve: k Infinity/NaN/1e400, bad db, bad Content-Length, lone surrogates, non-string instruction, "
             "ef_search >= 2^31 are one-line 400s; l2v search --server on an unexpected 200 is one line",
     ["tests/test_serve_hardening.py::test_malformed_search_values_are_one_line_400s",
      "tests/test_serve_hardening.py::test_malformed_embedding_values_are_400s",
      "tests/test_serve_hardening.py::test_a_content_length_that_is_not_a_count_is_a_400",
      "tests/test_serve_hardening.py::test_a_body_shorter_than_its_content_length_is_answered_not_waited_for",
      "tests/test_serve_hardening.py::test_cli_search_on_an_unexpected_200_is_one_line"]),
    ("20.4", "l2v search uses a running l2v serve of the same database (DB/serve.json) and ignores records it cannot "
             "trust; --keyword (and dense weight 0) searches with no model",
     ["tests/test_search_auto_server.py"]),
    ("21.4", "--db naming a foreign folder, a file, a foreign SQLite file, the documents folder or one inside/around it "
             "is refused in one line and nothing is written; a creation killed before its first commit is completed "
             "with the same encoder, never the default",
     ["tests/test_db_safety.py::test_a_folder_that_is_not_a_database_is_refused_and_left_untouched",
      "tests/test_db_safety.py::test_a_file_or_a_foreign_sqlite_file_is_refused",
      "tests/test_db_safety.py::test_the_database_and_the_documents_never_hold_one_another",
      "tests/test_db_safety.py::test_an_empty_folder_becomes_a_database_and_a_failed_creation_leaves_it_empty",
      "tests/test_db_safety.py::test_a_creation_killed_before_its_first_commit_is_completed_with_the_same_encoder",
      "tests/test_db_safety.py::test_a_rebuild_killed_before_its_first_commit_keeps_the_recorded_encoder",
      "tests/test_db_safety.py::test_cli_refusals_are_one_line_and_write_nothing"]),
    ("21.7", "FAISS factories that cannot work (HNSW0 abort, IVF0, PCA32, huge sizes) are refused before anything is "
             "written; a database that recorded one is reported on search/status and rebuilt by l2v index",
     ["tests/test_faiss_factories.py"]),
    ("21.9", "malformed encoder_config.json, a dim the model contradicts, --max-mb nan/inf, l2v adapt --lr nan / "
             "--lora-r 0 / --out FILE are one line; crafted chunk offsets (end 5e9) are bounded when read",
     ["tests/test_encoder_config_validation.py::test_a_malformed_encoder_config_is_one_line_naming_the_file_and_field",
      "tests/test_encoder_config_validation.py::test_cli_reports_malformed_configs_in_one_line",
      "tests/test_encoder_config_validation.py::test_a_dim_the_model_contradicts_is_refused_on_load",
      "tests/test_encoder_config_validation.py::test_adapt_values_that_cannot_train_are_one_line",
      "tests/test_encoder_config_validation.py::test_adapt_out_naming_a_file_is_one_line",
      "tests/test_db_safety.py::test_max_mb_nan_or_inf_is_one_line",
      "tests/test_db_safety.py::test_crafted_chunk_offsets_are_bounded_when_read"]),
    ("21.10", "adapter paths outside the encoder dir are refused; hybrid_dense_weight 5/NaN refused when recorded and "
              "harmless when read; --chunk-tokens 0 and an invalid --exclude refused before a database exists",
     ["tests/test_encoder_config_validation.py::test_an_adapter_outside_the_encoder_directory_is_refused",
      "tests/test_encoder_config_validation.py::test_a_bad_hybrid_dense_weight_is_refused_when_recorded_and_ignored_when_read",
      "tests/test_db_safety.py::test_bad_option_values_are_one_line_and_create_nothing"]),
    ("21.2", "small crafted files are read within each extractor's bound or skipped with a reason: a Markdown "
             "heading with 20,000 spaces, unclosed HTML markup, a DOCX zip bomb and lying zip sizes, a 16,000-"
             "paragraph DOCX, long reST/text lines; HTML text equals the stdlib parser's",
     ["tests/test_extract_bounds.py"]),
    ("21.3", "a symlink (file or folder) swapped between listing and reading never brings outside text or names "
             "into the index; reads racing a link flip never return outside bytes",
     ["tests/test_walk_safety.py::test_a_file_link_swapped_to_outside_after_listing_is_not_read",
      "tests/test_walk_safety.py::test_a_folder_swapped_for_an_outside_link_after_listing_is_not_read",
      "tests/test_walk_safety.py::test_a_folder_swapped_for_an_outside_link_before_it_is_listed_is_not_listed",
      "tests/test_walk_safety.py::test_reads_racing_a_link_flip_never_return_outside_text"]),
    ("21.5", "path globs with many stars ('**?' * 8 + '!') match in linear time with the same meaning; an "
             "over-long glob is refused in one line naming it",
     ["tests/test_walk_safety.py::test_globs_with_many_stars_match_in_linear_time",
      "tests/test_walk_safety.py::test_glob_meaning_is_unchanged",
      "tests/test_walk_safety.py::test_a_glob_too_long_to_match_is_refused_in_one_line_naming_it"]),
    ("21.10", "ESC/OSC/bidi controls in file names, titles and text are escaped when l2v search and status print them",
     ["tests/test_walk_safety.py::test_control_sequences_in_names_titles_and_text_are_escaped_on_the_terminal"]),
]


def outcomes(report: Path) -> dict[str, str]:
    """pytest node id (without parameters) -> worst outcome of its cases."""
    worst: dict[str, str] = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        node = f"{module}::{case.get('name', '').split('[')[0]}"
        state = "failed" if case.find("failure") is not None or case.find("error") is not None else (
            "skipped" if case.find("skipped") is not None else "passed")
        for key in (node, module):
            if rank[state] >= rank.get(worst.get(key, "passed"), 0):
                worst[key] = state
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the matrix without running it")
    args = parser.parse_args()
    if args.list:
        for item, probe, tests in PROBES:
            print(f"[{item}] {probe}\n      " + "\n      ".join(tests))
        return
    nodes = sorted({t for _, _, tests in PROBES for t in tests})
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not gpu", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *nodes], cwd=REPO)
        found = outcomes(report)
    print(f"\n{'item':<6} {'result':<8} probe")
    failed = 0
    for item, probe, tests in PROBES:
        states = [found.get(t, "missing") for t in tests]
        state = next((s for s in ("failed", "missing", "skipped") if s in states), "passed")
        failed += state in ("failed", "missing")
        print(f"{item:<6} {state:<8} {probe}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
