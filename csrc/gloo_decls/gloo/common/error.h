// synthgen: see ../context.h. ProcessGroupGloo.hpp includes this file but uses none of it.
#pragma once
