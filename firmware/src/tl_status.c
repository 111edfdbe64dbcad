#include "tl_status.h"

const char *tl_status_str(tl_status_t status)
{
    switch (status) {
    case TL_OK: return "ok";
    case TL_ERR_ARG: return "bad argument";
    case TL_ERR_BUFFER: return "buffer too small";
    case TL_ERR_TRUNCATED: return "truncated";
    case TL_ERR_BAD_MAGIC: return "bad magic";
    case TL_ERR_UNSUPPORTED: return "unsupported format version";
    case TL_ERR_OVERSIZED: return "oversized";
    case TL_ERR_BAD_CRC: return "bad crc";
    case TL_ERR_INCONSISTENT: return "inconsistent";
    case TL_ERR_MISALIGNED: return "misaligned";
    case TL_ERR_FLASH: return "flash error";
    case TL_ERR_CHUNK_CRC: return "chunk crc mismatch";
    case TL_ERR_CHUNK_ORDER: return "chunk out of order";
    case TL_ERR_DIGEST: return "sha256 mismatch";
    case TL_ERR_ROLLBACK: return "rollback refused";
    case TL_ERR_STATE: return "invalid state";
    case TL_ERR_NO_MODEL: return "no bootable model";
    case TL_ERR_SELFTEST: return "self-test failed";
    case TL_ERR_TOO_LARGE: return "image too large";
    case TL_ERR_UNSUPPORTED_TOKENIZER: return "unsupported tokenizer version";
    }
    return "unknown status";
}
