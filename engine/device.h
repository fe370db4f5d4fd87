// device.h — where a tensor lives.
// defines: DeviceType, Device, parse_device
//
// Backend choice is a runtime value, never an #ifdef inside an algorithm.
#pragma once
#include <string>

namespace bpr {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu" or "cuda:0"
};

inline Device cpu_device() { return Device{}; }

// Parses "cpu", "cuda", "cuda:N" or "auto" ("auto" picks cuda:0 when a usable GPU is
// present, else cpu) and activates the CUDA backend for a GPU. Throws bpr::Error on
// anything else or on a CUDA request without a usable GPU.
Device parse_device(const std::string& text);

}  // namespace bpr
