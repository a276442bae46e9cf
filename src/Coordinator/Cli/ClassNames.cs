using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Serialization;

namespace DistributedNN.Coordinator.Cli;

/// <summary>Class names on the command line (train --class-names, predict --labels): a known set's name or a list.</summary>
internal static class ClassNames
{
    /// <summary>Fashion-MNIST's class names (labels 0–9).</summary>
    public static readonly string[] FashionMnist = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The names given by <paramref name="text"/> for the network's classes; null when none are given.</summary>
    /// <exception cref="UserErrorException">The names do not fit the network (named by <paramref name="option"/>).</exception>
    public static string[]? Parse(string? text, NetworkSpec spec, string option)
    {
        if (text is null) return null;
        int classes = TrainedModel.ClassCount(spec);
        if (text.Trim().Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase))
        {
            if (classes != 10) throw new UserErrorException($"{option} fashion-mnist names 10 classes but the model has {classes}");
            return FashionMnist;
        }
        var names = text.Split(',', StringSplitOptions.TrimEntries);
        if (names.Length != classes) throw new UserErrorException($"{option} gives {names.Length} names but the model has {classes} classes");
        if (names.Any(n => n.Length == 0)) throw new UserErrorException($"{option} has an empty name (give one per class, label 0 first)");
        return names;
    }

    /// <summary>The names to show: the option's, else the model's own, else the labels' numbers.</summary>
    public static string[] ForDisplay(string? text, TrainedModel model, string option) =>
        Parse(text, model.Spec, option) ?? model.Input?.Classes?.ToArray()
        ?? Enumerable.Range(0, TrainedModel.ClassCount(model.Spec)).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
}
