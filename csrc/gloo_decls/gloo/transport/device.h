// synthgen: see ../context.h. Held by shared_ptr / unique_ptr only.
#pragma once
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
} // namespace transport
} // namespace gloo
