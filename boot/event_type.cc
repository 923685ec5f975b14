// Event type names, spelled as tpm2-tools' tpm2_eventlog prints them.
#include <string>

#include "immune/boot/event_log.h"

namespace immune::boot {

std::string EventTypeName(std::uint32_t type) {
  switch (type) {
    case EV_PREBOOT_CERT: return "EV_PREBOOT_CERT";
    case EV_POST_CODE: return "EV_POST_CODE";
    case EV_UNUSED: return "EV_UNUSED";
    case EV_NO_ACTION: return "EV_NO_ACTION";
    case EV_SEPARATOR: return "EV_SEPARATOR";
    case EV_ACTION: return "EV_ACTION";
    case EV_EVENT_TAG: return "EV_EVENT_TAG";
    case EV_S_CRTM_CONTENTS: return "EV_S_CRTM_CONTENTS";
    case EV_S_CRTM_VERSION: return "EV_S_CRTM_VERSION";
    case EV_CPU_MICROCODE: return "EV_CPU_MICROCODE";
    case EV_PLATFORM_CONFIG_FLAGS: return "EV_PLATFORM_CONFIG_FLAGS";
    case EV_TABLE_OF_DEVICES: return "EV_TABLE_OF_DEVICES";
    case EV_COMPACT_HASH: return "EV_COMPACT_HASH";
    case EV_IPL: return "EV_IPL";
    case EV_IPL_PARTITION_DATA: return "EV_IPL_PARTITION_DATA";
    case EV_NONHOST_CODE: return "EV_NONHOST_CODE";
    case EV_NONHOST_CONFIG: return "EV_NONHOST_CONFIG";
    case EV_NONHOST_INFO: return "EV_NONHOST_INFO";
    case EV_OMIT_BOOT_DEVICE_EVENTS: return "EV_OMIT_BOOT_DEVICE_EVENTS";
    case EV_EFI_EVENT_BASE: return "EV_EFI_EVENT_BASE";
    case EV_EFI_VARIABLE_DRIVER_CONFIG: return "EV_EFI_VARIABLE_DRIVER_CONFIG";
    case EV_EFI_VARIABLE_BOOT: return "EV_EFI_VARIABLE_BOOT";
    case EV_EFI_BOOT_SERVICES_APPLICATION: return "EV_EFI_BOOT_SERVICES_APPLICATION";
    case EV_EFI_BOOT_SERVICES_DRIVER: return "EV_EFI_BOOT_SERVICES_DRIVER";
    case EV_EFI_RUNTIME_SERVICES_DRIVER: return "EV_EFI_RUNTIME_SERVICES_DRIVER";
    case EV_EFI_GPT_EVENT: return "EV_EFI_GPT_EVENT";
    case EV_EFI_ACTION: return "EV_EFI_ACTION";
    case EV_EFI_PLATFORM_FIRMWARE_BLOB: return "EV_EFI_PLATFORM_FIRMWARE_BLOB";
    case EV_EFI_HANDOFF_TABLES: return "EV_EFI_HANDOFF_TABLES";
    case EV_EFI_PLATFORM_FIRMWARE_BLOB2: return "EV_EFI_PLATFORM_FIRMWARE_BLOB2";
    case EV_EFI_HANDOFF_TABLES2: return "EV_EFI_HANDOFF_TABLES2";
    case EV_EFI_VARIABLE_BOOT2: return "EV_EFI_VARIABLE_BOOT2";
    case EV_EFI_GPT_EVENT2: return "EV_EFI_GPT_EVENT2";
    case EV_EFI_HCRTM_EVENT: return "EV_EFI_HCRTM_EVENT";
    case EV_EFI_VARIABLE_AUTHORITY: return "EV_EFI_VARIABLE_AUTHORITY";
    case EV_EFI_SPDM_FIRMWARE_BLOB: return "EV_EFI_SPDM_FIRMWARE_BLOB";
    case EV_EFI_SPDM_FIRMWARE_CONFIG: return "EV_EFI_SPDM_FIRMWARE_CONFIG";
    default: return "Unknown event type";
  }
}

}  // namespace immune::boot
