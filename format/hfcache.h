/*
 * hfcache.h — where a Hub repository lives in the local Hugging Face cache (offline):
 * $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, then
 * models--org--name/snapshots/<commit>, the commit read from refs/<revision> or the
 * revision naming a snapshot directly. Snapshot entries are symbolic links into the
 * repository's blobs/, each blob named by its content's hash (spec/archive.md A-H*).
 */
#ifndef VX_FORMAT_HFCACHE_H
#define VX_FORMAT_HFCACHE_H

#include "common.h"

/* 1 when s has the form "org/name" with Hub-legal characters (never "." or ".."). */
int vx_hf_is_repo_id(const char *s);

/* Resolve repo_id at `revision` (NULL = "main"). On success *snapshot, *repo_dir (the
 * models--org--name directory) and *commit are malloc'd and owned by the caller.
 * Errors: VX_ENOTFOUND (no cache, repo, ref or snapshot: the message names what was
 * searched), VX_EUSAGE (an unsafe revision), VX_ECORRUPT (a ref that names no snapshot),
 * VX_ENOMEM. */
int vx_hf_resolve(char **snapshot, char **repo_dir, char **commit, const char *repo_id, const char *revision,
                  vx_err *err);

#endif
