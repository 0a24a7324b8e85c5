/*
 * fuzz_config.c — config.json parsing, reached through vx_ckpt_open (it takes a
 * directory): the input is written as config.json into a private directory holding links
 * to the tiny-qwen3 fixture (sharded safetensors, index, tokenizer), then the checkpoint
 * is opened. When it opens, the architecture mapping must only describe vectors inside
 * their tensors — checked element by element bound, then the first and last element of
 * every vector set is read.
 */
#include "fuzz_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_ckpt_one("fuzz_config", "config.json", "model.safetensors.index.json", 1, data, size);
}
