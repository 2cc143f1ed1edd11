/**
 * The ownership labels tsstack puts on every container, network and volume it creates. They are Docker
 * Compose's own label keys, so `docker compose ps` sees tsstack's containers and tsstack adopts
 * Compose's (docker/compose `pkg/api/labels.go`).
 */
export const LABEL_PROJECT = "com.docker.compose.project";
export const LABEL_SERVICE = "com.docker.compose.service";
/** Replica number, 1-based, as a decimal string. */
export const LABEL_CONTAINER_NUMBER = "com.docker.compose.container-number";
/**
 * `serviceConfigHash` of the service when the container was created, `networkConfigHash` /
 * `volumeConfigHash` of the definition on networks and volumes: drift = a different hash.
 */
export const LABEL_CONFIG_HASH = "com.docker.compose.config-hash";
/** `True` for `run` containers, which the reconciler never manages. */
export const LABEL_ONEOFF = "com.docker.compose.oneoff";
export const LABEL_WORKING_DIR = "com.docker.compose.project.working_dir";
export const LABEL_CONFIG_FILES = "com.docker.compose.project.config_files";
/** `service:condition:restart` entries, comma-separated. */
export const LABEL_DEPENDS_ON = "com.docker.compose.depends_on";
/** Digest (or id) of the image the container was created from. */
export const LABEL_IMAGE = "com.docker.compose.image";
export const LABEL_VERSION = "com.docker.compose.version";
/** Network key in the stack file (on networks). */
export const LABEL_NETWORK = "com.docker.compose.network";
/** Volume key in the stack file (on volumes). */
export const LABEL_VOLUME = "com.docker.compose.volume";
