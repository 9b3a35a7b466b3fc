/*
 * internal.h - the platform layer's headers in one include: what every
 * HAKMEM source file shares.  It is the lowest of the layers src/README
 * lists; every layer may use it, and it names nothing of a layer above.
 * Each header holds one concern, its prototypes grouped by the file that
 * defines them:
 *
 *   platform/base.h       compiler helpers, build switches, lists, geometry
 *   platform/sizeclass.h  the size classes and the fast paths' tables
 *   platform/chunk.h      chunks, the chunk map, the small-block window
 *   platform/os.h         OS memory, limit, clock, locks, metadata, failures
 *   platform/log.h        diagnostics written without allocating
 *   platform/options.h    the options
 */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include "platform/base.h"
#include "platform/chunk.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os.h"
#include "platform/sizeclass.h"

#endif /* HAK_INTERNAL_H */
