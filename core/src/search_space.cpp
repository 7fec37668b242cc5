#include "tracenas/search_space.hpp"
