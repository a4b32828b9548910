/**
 * Preloaded (`node --import`) into a process the bench profiles but did not write — the `http`
 * step's server — so that the source maps `profile-summary` needs are written beside its profile
 * as it exits (`BENCH_SOURCE_MAPS`: where).
 */
import { writeSourceMaps } from '../lib/source-maps.js'

const file = process.env.BENCH_SOURCE_MAPS
if (file !== undefined) process.on('exit', () => writeSourceMaps(file))
