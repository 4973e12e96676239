"""Scripts that measure speed and memory, build test trees and run the campaign; importable by the tests."""
